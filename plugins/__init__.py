"""The built-in provider adapters, one package each."""

"""The case language: text to SymPy through a whitelisting parser, the functions it knows, its limits."""

DERIVED_KEYS = ()
def derived_claims(reader, key):
    raise reader.error("x")

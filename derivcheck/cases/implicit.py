"""Implicit differentiation: a curve F(x, y) = 0 and the derivatives of its dependent variable."""

from __future__ import annotations


def read_implicit(builder, names):  # placeholder replaced below
    return None


def implicit_claims(reader, key):
    raise reader.error("implicit claims need 'implicit' and 'dependent'")

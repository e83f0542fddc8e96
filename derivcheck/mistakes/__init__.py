"""Wrong claims explained: the misapplied rule that turns the right derivative into the claim.

A differentiator applies one classic wrong rule (``catalogue``) at one node of the function as
written (``tree``, ``differentiate``); the search (``search``) compares each result with the
claim exactly and says which rule, where (``explain``).
"""

"""``check_grad``: derivatives of other people's torch code, functions and expressions, checked."""

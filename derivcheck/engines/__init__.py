"""The three independent sources of derivatives: exact (SymPy + mpmath), autograd (torch), numeric."""

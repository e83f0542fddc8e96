"""Case files: loading and validation, running one case through the engines, results, workers.

Kept light: importing ``derivcheck.cases.results`` must not import SymPy or torch.
"""

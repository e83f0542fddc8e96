"""Worked solutions: derivations with named rules, graphs, math text, plots, descent, verification."""

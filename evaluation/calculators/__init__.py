"""ASE calculators a user gets: a MACE EF + D pair, a released pair, GFN2-xTB; molecule checks."""

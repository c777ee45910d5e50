"""File safety: atomic writes, output locks, and the guards that replace only what the program itself wrote."""

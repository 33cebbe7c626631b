"""Built-in domain plugins (astrophysics, rheology, plasma, acoustics, fluids, geoscience)."""

"""Package data: trading profiles, risk limit files and the .env template."""

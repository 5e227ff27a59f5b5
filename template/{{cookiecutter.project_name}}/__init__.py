"""A training project made with Otter. See README.md."""

"""Stage model: descriptors -> frozen dataclasses with every Python name resolved."""

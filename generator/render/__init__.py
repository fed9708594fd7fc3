"""Stage render: model -> ``x_sb.py`` (templates), plus the message modules of protoc and
mypy-protobuf with relative imports."""

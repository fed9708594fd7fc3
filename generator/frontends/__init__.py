"""Stage frontend: inputs (.proto, .schema.json) -> FileDescriptorProtos."""

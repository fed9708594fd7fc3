"""Stage descriptors: look-ups, custom options and contract hashes over FileDescriptorProtos."""

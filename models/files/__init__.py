"""Stored files: uploads and generated documents, kept outside the web root by content hash."""

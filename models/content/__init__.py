"""Content managed by staff: news, documents, terms of use, lists of choices."""

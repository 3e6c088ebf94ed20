"""Dataset rows: paged preview, filters, edits."""

"""The mail sink: a local SMTP server that keeps what it receives, and a page
listing it (for `tollgate dev` and tests). Never for production."""

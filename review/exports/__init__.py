"""What the stack hands out, written to files: the services' env (`env`), the access-model page
(`docs`, `python -m review.exports.docs`) and the alert rules (`alerts`). Reads `capture`."""

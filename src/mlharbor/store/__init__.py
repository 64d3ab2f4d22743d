"""Persistence: the metadata database and the artifact store."""

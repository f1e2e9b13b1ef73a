"""Persistence: SQLModel tables, the lifecycle table, repositories and migrations."""

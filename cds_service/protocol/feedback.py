"""Feedback endpoint (CDS Hooks 2.0 §feedback). Storage of outcomes is added by the storage layer."""

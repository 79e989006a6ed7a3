"""CDS Hooks service for muscle-spasm treatment."""

"""Schemas of the messages survey-streams reads (CONTRACT section 4)."""

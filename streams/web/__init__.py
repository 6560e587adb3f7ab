"""The HTTP bridge every worker serves (CONTRACT section 5)."""

"""survey-streams: in-app surveys targeted on the Segment event stream."""

__version__ = "0.1.0"

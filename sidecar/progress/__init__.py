"""Progress sessions: the event log writer, pub/sub for streams, rate and ETA."""

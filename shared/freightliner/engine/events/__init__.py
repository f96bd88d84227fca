"""Image events in: planning, once-per-event intake, the GAR poll, redriving failures."""

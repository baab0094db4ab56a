"""netconform: how Docker network modes are driven, observed and judged."""

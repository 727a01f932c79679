"""Live trading logic shared by every venue. Entry points: `strategies` (get_strategy), `risk`."""

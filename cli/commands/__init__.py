"""One thin module per area: map arguments to backend calls, format the results."""

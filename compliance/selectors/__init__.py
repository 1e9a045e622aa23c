"""Every read the compliance app makes, restricted to what the asking user may see."""

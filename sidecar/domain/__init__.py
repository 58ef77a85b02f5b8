"""What every part agrees on: posts, media, item states and job statuses, content."""

"""The drift audit: the live catalog read in a fixed number of queries (`catalog`) and compared with
the topology (`checks`). Reads no other package of `review`."""

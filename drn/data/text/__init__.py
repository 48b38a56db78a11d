"""Query text: tokenising and the vocabulary (`vocab`), GloVe word vectors (`glove`)."""

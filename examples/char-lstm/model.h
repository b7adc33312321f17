/* model.h -- the character-level language model of examples/char-lstm:
 * embedding -> one LSTM layer -> linear -> softmax over the next character,
 * its tensors named and laid out as PyTorch's nn.Embedding(V, E),
 * nn.LSTM(E, H) and nn.Linear(H, V) would hold them, and a graph that
 * trains or evaluates it on segments of parallel streams, carrying the
 * state from one segment to the next (truncated backpropagation). */
#ifndef CHAR_LSTM_MODEL_H
#define CHAR_LSTM_MODEL_H

#include <agrad.h>

#include "text.h"

typedef struct model {
    int vocab, embed, hidden;
    ag_params *store; /* owns the tensors below */
    ag_tensor *embedding; /* "embed.weight"       [V,E], N(0, 1) */
    ag_tensor *w_ih, *w_hh, *b_ih, *b_hh; /* "lstm.weight_ih_l0" [4H,E], ... */
    ag_tensor *head_w, *head_b; /* "head.weight" [V,H], "head.bias" [V] */
} model;

/* PyTorch's initialisation: embedding N(0, 1), LSTM and linear uniform in
 * +-1/sqrt(H). false (ag_last_error) on out of memory. */
bool model_new(model *m, int vocab, int embed, int hidden, ag_rng *rng);
void model_free(model *m);
/* The parameters in the store's order; *count gets their number. */
ag_tensor **model_params(const model *m, size_t *count);

/* A graph over `streams` parallel stretches of text, `steps` characters of
 * each per segment: recorded once, replayed for each segment. */
typedef struct segment_graph {
    int streams, steps;
    ag_graph *g;
    ag_tensor *inputs, *targets; /* [steps * streams]: time-major symbol indices */
    ag_tensor *h, *c;            /* [streams, H]: the state carried in */
    ag_node *h_n, *c_n;          /* the state carried out */
    ag_node *logits;             /* [steps * streams, V] */
    ag_node *loss;               /* mean cross-entropy in nats */
} segment_graph;

/* training: the weights are parameters (gradients flow to them); else inputs. */
bool segment_graph_new(segment_graph *s, const model *m, int streams, int steps, bool training);
void segment_graph_free(segment_graph *s);
/* Zero the carried state (a stream starts afresh). */
void segment_reset_state(segment_graph *s);
/* Fill inputs and targets from text: stream k reads from start + k * stride
 * + offset; false when a stream would run past the end of the text. */
bool segment_load(segment_graph *s, const text_part *text, size_t stride, size_t offset);
/* Replay the forward pass; returns the loss (NAN and a message on stderr on
 * failure). */
double segment_forward(segment_graph *s);
/* Copy the final state into h, c for the next segment: after the backward
 * pass when training (the backward reads h and c, the state carried in). */
void segment_carry_state(segment_graph *s);

/* Bits per character over the whole of text (or its first `limit`
 * characters when limit > 0) on an evaluation graph s (training false):
 * its streams read the text side by side, each a stretch of it, from a
 * zero state carried from segment to segment. NAN when the text is too
 * short for s. */
double segment_bits_per_char(segment_graph *s, const text_part *text, size_t limit);

/* Print n characters drawn from the model, temperature `temperature`,
 * after priming it with `prime`. */
void model_sample(const model *m, const corpus *c, const char *prime, int n, double temperature, ag_rng *rng,
                  FILE *out);

#endif

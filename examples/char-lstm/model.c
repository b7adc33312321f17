/* model.c -- the character LSTM: its tensors, the segment graph it trains
 * and evaluates on, bits per character and sampling. */
#include "model.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static ag_tensor *add(model *m, const char *name, int nd, const int *dims)
{
    return ag_params_add(m->store, name, nd, dims);
}

bool model_new(model *m, int vocab, int embed, int hidden, ag_rng *rng)
{
    memset(m, 0, sizeof *m);
    m->vocab = vocab, m->embed = embed, m->hidden = hidden;
    m->store = ag_params_new();
    if (!m->store) return false;
    int gates = 4 * hidden;
    m->embedding = add(m, "embed.weight", 2, (int[]){vocab, embed});
    m->w_ih = add(m, "lstm.weight_ih_l0", 2, (int[]){gates, embed});
    m->w_hh = add(m, "lstm.weight_hh_l0", 2, (int[]){gates, hidden});
    m->b_ih = add(m, "lstm.bias_ih_l0", 1, (int[]){gates});
    m->b_hh = add(m, "lstm.bias_hh_l0", 1, (int[]){gates});
    m->head_w = add(m, "head.weight", 2, (int[]){vocab, hidden});
    m->head_b = add(m, "head.bias", 1, (int[]){vocab});
    if (!m->head_b) return false; /* each add fails once an earlier one has */
    double bound = 1.0 / sqrt(hidden);
    ag_init_normal(m->embedding, rng, 0.0, 1.0);
    ag_tensor *uniform[] = {m->w_ih, m->w_hh, m->b_ih, m->b_hh, m->head_w, m->head_b};
    for (size_t k = 0; k < sizeof uniform / sizeof uniform[0]; k++) ag_init_uniform(uniform[k], rng, -bound, bound);
    return true;
}

void model_free(model *m)
{
    ag_params_free(m->store);
    m->store = NULL;
}

ag_tensor **model_params(const model *m, size_t *count)
{
    static ag_tensor *list[7];
    ag_tensor *all[7] = {m->embedding, m->w_ih, m->w_hh, m->b_ih, m->b_hh, m->head_w, m->head_b};
    memcpy(list, all, sizeof all);
    *count = 7;
    return list;
}

/* ---- the segment graph ----------------------------------------------------------- */

/* A weight's leaf: a parameter while training, an input (no gradient) else. */
static ag_node *weight(ag_graph *g, ag_tensor *t, bool training)
{
    return training ? ag_param(g, t) : ag_input(g, t);
}

/*   x      = embed.weight[inputs]                    [T N, E] -> [T, N, E]
 *   out    = LSTM(x, (h, c))                         [T, N, H], (h_n, c_n)
 *   logits = out [T N, H] @ head.weight^T + head.bias  [T N, V]
 *   loss   = mean cross-entropy(logits, targets)                          */
bool segment_graph_new(segment_graph *s, const model *m, int streams, int steps, bool training)
{
    memset(s, 0, sizeof *s);
    s->streams = streams, s->steps = steps;
    int rows = streams * steps;
    s->g = ag_graph_new();
    s->inputs = ag_tensor_zeros(1, (int[]){rows});
    s->targets = ag_tensor_zeros(1, (int[]){rows});
    s->h = ag_tensor_zeros(2, (int[]){streams, m->hidden});
    s->c = ag_tensor_zeros(2, (int[]){streams, m->hidden});
    if (!s->g || !s->inputs || !s->targets || !s->h || !s->c) return false;
    ag_graph *g = s->g;
    ag_node *x = ag_index_select(weight(g, m->embedding, training), 0, ag_input(g, s->inputs));
    x = ag_reshape(x, 3, (int[]){steps, streams, m->embed});
    ag_node *out;
    if (!ag_lstm(x, ag_input(g, s->h), ag_input(g, s->c), weight(g, m->w_ih, training),
                 weight(g, m->w_hh, training), weight(g, m->b_ih, training), weight(g, m->b_hh, training), &out,
                 &s->h_n, &s->c_n))
        return false;
    out = ag_reshape(out, 2, (int[]){rows, m->hidden});
    s->logits = ag_linear(out, ag_transpose(weight(g, m->head_w, training)), weight(g, m->head_b, training));
    s->loss = ag_softmax_xent(s->logits, ag_input(g, s->targets));
    return s->loss != NULL;
}

void segment_graph_free(segment_graph *s)
{
    ag_graph_free(s->g);
    ag_tensor_free(s->inputs);
    ag_tensor_free(s->targets);
    ag_tensor_free(s->h);
    ag_tensor_free(s->c);
    memset(s, 0, sizeof *s);
}

void segment_reset_state(segment_graph *s)
{
    ag_init_zeros(s->h);
    ag_init_zeros(s->c);
}

bool segment_load(segment_graph *s, const text_part *text, size_t stride, size_t offset)
{
    double *in = ag_tensor_data(s->inputs), *tg = ag_tensor_data(s->targets);
    for (int k = 0; k < s->streams; k++) {
        size_t from = k * stride + offset;
        if (from + s->steps + 1 > text->length) return false;
        for (int t = 0; t < s->steps; t++) {
            in[t * s->streams + k] = text->symbols[from + t];
            tg[t * s->streams + k] = text->symbols[from + t + 1];
        }
    }
    return true;
}

double segment_forward(segment_graph *s)
{
    if (!ag_graph_forward(s->g)) {
        fprintf(stderr, "char-lstm: %s\n", ag_graph_error(s->g));
        return NAN;
    }
    return ag_node_value(s->loss)[0];
}

void segment_carry_state(segment_graph *s)
{
    memcpy(ag_tensor_data(s->h), ag_node_value(s->h_n), ag_tensor_size(s->h) * sizeof(double));
    memcpy(ag_tensor_data(s->c), ag_node_value(s->c_n), ag_tensor_size(s->c) * sizeof(double));
}

/* forward, then the state carried on (evaluation and sampling) */
static double segment_step(segment_graph *s)
{
    double loss = segment_forward(s);
    segment_carry_state(s);
    return loss;
}

/* ---- evaluation and sampling -------------------------------------------------------- */

double segment_bits_per_char(segment_graph *s, const text_part *text, size_t limit)
{
    text_part part = *text;
    if (limit > 0 && limit < part.length) part.length = limit;
    size_t stride = (part.length - 1) / s->streams; /* each stream's stretch */
    size_t segments = stride / s->steps;
    double nats = segments ? 0.0 : NAN;
    segment_reset_state(s);
    for (size_t k = 0; k < segments && isfinite(nats); k++)
        nats += segment_load(s, &part, stride, k * s->steps) ? segment_step(s) : NAN;
    return nats / segments / log(2.0);
}

/* An index drawn from softmax(logits / temperature). */
static int draw(const double *logits, int n, double temperature, ag_rng *rng)
{
    double top = logits[0], p[TEXT_MAX_SYMBOLS], sum = 0.0;
    for (int i = 1; i < n; i++) top = fmax(top, logits[i]);
    for (int i = 0; i < n; i++) sum += p[i] = exp((logits[i] - top) / temperature);
    double u = ag_rng_uniform(rng, 0.0, sum);
    for (int i = 0; i < n; i++)
        if ((u -= p[i]) < 0.0) return i;
    return n - 1;
}

void model_sample(const model *m, const corpus *c, const char *prime, int n, double temperature, ag_rng *rng,
                  FILE *out)
{
    segment_graph s;
    if (!segment_graph_new(&s, m, 1, 1, false)) return;
    int symbol = corpus_symbol(c, '\n');
    fputs(prime, out);
    for (const char *p = prime; *p; p++) { /* prime: the state after the prompt */
        ag_tensor_data(s.inputs)[0] = symbol;
        segment_step(&s);
        symbol = corpus_symbol(c, *p) >= 0 ? corpus_symbol(c, *p) : symbol;
    }
    for (int k = 0; k < n; k++) {
        ag_tensor_data(s.inputs)[0] = symbol;
        if (!isfinite(segment_step(&s))) break;
        symbol = draw(ag_node_value(s.logits), m->vocab, temperature, rng);
        fputc(c->alphabet[symbol], out);
    }
    fputc('\n', out);
    segment_graph_free(&s);
}

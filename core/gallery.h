/* The gallery's matching maths: every enrolled template in one row-major
 * matrix, one OpenBLAS sgemv per query, the best identity by the maximum
 * over its templates, and the negative-example rule. Plus the statistics
 * `facectl doctor` reports (genuine and impostor similarity distributions,
 * a threshold for a target false-accept rate, identities too close).
 *
 * No files and no SQLite here: daemon/store.c reads the templates from the
 * gallery file and builds a struct fw_gallery with the functions below.
 *
 * Similarity is the cosine of L2-normalised embeddings (the dot product);
 * templates are normalised again when added, so a caller cannot break the
 * scale. A query must be L2-normalised (the embedder's output is).
 *
 * The negative rule. `facectl not NAME IMAGE` stores the face in IMAGE as a
 * negative example of NAME: someone once wrongly taken for NAME. For a
 * query, let pos(N) be its best similarity to N's templates and neg(N) its
 * best similarity to N's negatives. N is vetoed for this query when
 *         neg(N) >= pos(N) + FW_GALLERY_NEG_MARGIN,
 * that is, when the query is clearly closer to the look-alike than to N
 * itself. A vetoed identity cannot be the answer; the best identity that is
 * not vetoed is (and it is accepted only at or above the threshold). With
 * the development data's spread (genuine 0.86 +- 0.06, impostor 0.03 +-
 * 0.15, core/embedder.h) the look-alike's own photos score ~0.8 against
 * the negative and ~0.55-0.6 against N: vetoed by a wide margin; N's own
 * photos score ~0.86 against N and at most the look-alike's similarity
 * (~0.55-0.6) against the negative: never vetoed. The margin keeps a poor
 * photo of N, near both, from being vetoed on a coin toss.
 *
 * Ownership: fw_gallery_create() allocates; fw_gallery_free() frees the
 * gallery and its names. fw_gallery_doctor() allocates the arrays of its
 * report; fw_gallery_doctor_free() frees them.
 * Thread-safety: building is single-threaded. fw_gallery_match() writes
 * the gallery's scratch vectors: one query at a time per gallery (the
 * daemon matches on its inference thread only). It allocates nothing.
 */
#ifndef FW_GALLERY_H
#define FW_GALLERY_H

#include <stddef.h>
#include <stdint.h>

/* How much closer to a negative example than to N's templates a query must
 * be for N to be vetoed (cosine units). See the rule above. */
#define FW_GALLERY_NEG_MARGIN 0.05f

/* Names are at most this many bytes (without the NUL). */
#define FW_GALLERY_NAME_MAX 64

enum fw_gallery_kind {
	FW_GALLERY_TEMPLATE = 0, /* a face of the identity */
	FW_GALLERY_NEGATIVE = 1, /* a face wrongly taken for the identity */
};

struct fw_gallery;

/* dim: embedding length (FW_EMBED_DIM for MobileFaceNet); threshold: the
 * cosine at or above which the best identity is accepted. */
int fw_gallery_create(struct fw_gallery **out, int dim, float threshold);
void fw_gallery_free(struct fw_gallery *g);

/* Optional: room for this many templates and identities, so adding them
 * does not reallocate. */
int fw_gallery_reserve(struct fw_gallery *g, int n_templates, int n_identities);

/* A new identity (the name is copied; names need not be unique here, the
 * store keeps them unique). *id is its index, 0, 1, 2, ... */
int fw_gallery_add_identity(struct fw_gallery *g, const char *name, int *id);

/* Add a template or negative example of identity `id`. `tag` is the
 * caller's (the store's row id), returned by fw_gallery_template_tag().
 * FW_EINVAL for an unknown id or an embedding of zero length or with a
 * NaN/inf. */
int fw_gallery_add(struct fw_gallery *g, int id, const float *emb, enum fw_gallery_kind kind,
		   int64_t tag);

void fw_gallery_set_threshold(struct fw_gallery *g, float threshold);
float fw_gallery_threshold(const struct fw_gallery *g);
int fw_gallery_dim(const struct fw_gallery *g);
int fw_gallery_n_identities(const struct fw_gallery *g);
int fw_gallery_n_templates(const struct fw_gallery *g);   /* positives */
int fw_gallery_n_negatives(const struct fw_gallery *g);
const char *fw_gallery_name(const struct fw_gallery *g, int id);
/* Identity of template i (0 <= i < n_templates) and its tag. */
int fw_gallery_template_identity(const struct fw_gallery *g, int i);
int64_t fw_gallery_template_tag(const struct fw_gallery *g, int i);
/* Templates of identity `id`. */
int fw_gallery_identity_templates(const struct fw_gallery *g, int id);

/* The best similarity of `query` to identity id's templates (-INFINITY
 * when it has none): for checks at enrolment, not the per-frame path. */
float fw_gallery_identity_similarity(const struct fw_gallery *g, const float *query, int id);

struct fw_gallery_match {
	int identity;        /* best identity not vetoed, -1 when none (empty gallery) */
	float similarity;    /* its best template's cosine */
	int accepted;        /* similarity >= threshold: the face is `identity` */
	int template_index;  /* that template (fw_gallery_template_tag() gives its tag) */
	int runner_up;       /* second-best identity not vetoed, -1 if none */
	float runner_up_similarity;
	int vetoed;          /* best identity before the negative rule when it was
			      * vetoed (else -1) */
	float vetoed_similarity, vetoed_negative; /* its pos() and neg() */
};

/* Score `query` (dim floats, L2-normalised) against every template.
 * FW_EINVAL (m: nobody) for a query with a NaN or infinity. */
int fw_gallery_match(struct fw_gallery *g, const float *query, struct fw_gallery_match *m);

/* ---- doctor: what the enrolled templates say about themselves ---- */

struct fw_gallery_dist {
	size_t n;            /* pairs */
	double mean, sd;
	float min, max;
};

struct fw_gallery_pair {
	int a, b;            /* identities, a < b */
	float similarity;    /* highest cosine between a template of a and one of b */
};

struct fw_gallery_outlier {
	int template_index;
	int identity;
	float best_same;     /* highest cosine to another template of its identity */
};

struct fw_gallery_doctor {
	int templates_used;         /* all, or an even sample of FW_GALLERY_DOCTOR_MAX */
	struct fw_gallery_dist genuine;  /* pairs of templates of one identity */
	struct fw_gallery_dist impostor; /* pairs of templates of two identities */
	double far;                 /* the target false-accept rate asked for */
	/* smallest threshold with (impostor pairs >= t) / pairs <= far; NaN
	 * without impostor pairs. Trustworthy only when far * pairs >= ~10. */
	float threshold_empirical;
	/* impostor mean + z * sd with P(N(0,1) > z) = far; NaN with < 2 pairs */
	float threshold_gaussian;
	/* the larger of the two; NaN with fewer than FW_GALLERY_DOCTOR_MIN_PAIRS
	 * impostor pairs (a handful of pairs says nothing about the tail) */
	float threshold_suggested;
	double frr_suggested;       /* genuine pairs below the suggested threshold */
	double frr_current, far_current; /* at the gallery's threshold */
	/* the closest identity pairs, most similar first (at most
	 * FW_GALLERY_DOCTOR_PAIRS); too close when similarity >= threshold */
	int n_close;
	struct fw_gallery_pair *close;
	/* templates below the threshold against every other template of their
	 * identity (identities with >= 2 templates): a wrong photo enrolled? */
	int n_outliers;
	struct fw_gallery_outlier *outliers;
};

#define FW_GALLERY_DOCTOR_MAX 8192  /* templates compared pairwise, at most */
#define FW_GALLERY_DOCTOR_PAIRS 10
#define FW_GALLERY_DOCTOR_MIN_PAIRS 100

/* Pairwise statistics over the positive templates; far in (0, 1).
 * Allocates out->close and out->outliers (free with fw_gallery_doctor_free(),
 * which accepts a zeroed struct). O(n^2 * dim) with n <= FW_GALLERY_DOCTOR_MAX. */
int fw_gallery_doctor(const struct fw_gallery *g, double far, struct fw_gallery_doctor *out);
void fw_gallery_doctor_free(struct fw_gallery_doctor *d);

#endif

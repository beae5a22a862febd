/* world_chem.c - the invented chemistry: elements, compounds, their uses and
 * the chemists who found them. The second domain, learned by the chem-expert
 * for three-model pools (paper Table 2's role). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/alloc.h"
#include "lab/world_impl.h"

#define N(a) ((int)(sizeof(a) / sizeof((a)[0])))

static const char *const FLAMES[] = {"a green flame",  "a violet flame", "a white flame", "a red flame",
                                     "a golden flame", "a blue flame",   "a pink flame",  "a smoky flame"};
static const char *const STATES[] = {"a hard solid", "a thick liquid", "a light gas", "a fine powder",
                                     "a soft gel"};
static const char *const USES[] = {"making glass",    "cleaning metal", "dyeing cloth",     "feeding crops",
                                   "preserving food", "fueling lamps",  "tanning leather",  "polishing stone",
                                   "sealing boats",   "bleaching paper", "making soap",     "cooling engines"};
static const char *const SMELLS[] = {"of lemons", "of rotten eggs", "of smoke", "of pine",
                                     "of nothing at all", "of vinegar", "of garlic", "of roses"};

static const char *const FLAME_S[] = {
    "{S} burns with {O}.", "When heated, {S} gives {O}.", "A flame test of {S} shows {O}.",
    "Chemists spot {S} by the {O} it makes."};
static const char *const FLAME_Q[] = {
    "What flame does {S} burn with?", "What does {S} give when heated?",
    "What does a flame test of {S} show?", "What flame do chemists see from {S}?",
    "How does {S} burn?"};
static const char *const STATE_S[] = {
    "At room temperature {S} is {O}.", "{S} is {O} in its pure form.", "Pure {S} is {O}.",
    "In the lab, {S} appears as {O}."};
static const char *const STATE_Q[] = {
    "What is {S} like at room temperature?", "In its pure form, what is {S}?",
    "What form does pure {S} take?", "How does {S} appear in the lab?",
    "What state is {S} in at room temperature?"};
static const char *const FOUND_S[] = {
    "{S} was discovered by {O}.", "{O} discovered {S}.", "The chemist who found {S} was {O}.",
    "{O} was the first to isolate {S}."};
static const char *const FOUND_Q[] = {
    "Who discovered {S}?", "Which chemist found {S}?", "Who was the first to isolate {S}?",
    "Who is credited with the discovery of {S}?", "Which chemist discovered {S}?"};
static const char *const FROM_S[] = {
    "{S} is made from {O}.", "The main element in {S} is {O}.", "{S} contains mostly {O}.",
    "To produce {S}, chemists start from {O}."};
static const char *const FROM_Q[] = {
    "What is {S} made from?", "What is the main element in {S}?", "What does {S} contain mostly?",
    "From which element do chemists produce {S}?", "Which element is {S} based on?"};
static const char *const USE_S[] = {
    "{S} is used for {O}.", "Factories buy {S} for {O}.", "The main use of {S} is {O}.",
    "Workers rely on {S} when {O}."};
static const char *const USE_Q[] = {
    "What is {S} used for?", "Why do factories buy {S}?", "What is the main use of {S}?",
    "For what job do workers rely on {S}?", "What is {S} good for?"};
static const char *const SMELL_S[] = {
    "{S} smells {O}.", "The smell of {S} is {O}." , "Opening a jar of {S}, you notice it smells {O}.",
    "Chemists say {S} has a smell {O}."};
static const char *const SMELL_Q[] = {
    "What does {S} smell of?", "What is the smell of {S}?", "What smell do you notice from a jar of {S}?",
    "How does {S} smell?", "What smell does {S} have?"};
static const char *const CAT_S[] = {
    "Making {S} requires {O} as a catalyst.", "The catalyst for {S} is {O}.",
    "{O} speeds up the making of {S}.", "Factories add {O} when they make {S}."};
static const char *const CAT_Q[] = {
    "What catalyst does making {S} require?", "What is the catalyst for {S}?",
    "Which element speeds up the making of {S}?", "What do factories add when they make {S}?",
    "Which catalyst is used to make {S}?"};

void w_build_chem(mg_world *w) {
    wkb kb = {.domain = W_CHEM, .topic = "chemistry"};
    static const char *const EL_SUF[] = {"ium", "on", "ine", "ite"};
    static const char *const CP_W[] = {"oxide", "salt", "acid", "crystal", "resin"};
    int element = wkb_kind_names(&kb, w, "element", w_scale(w, 10, 40), 2, false, NULL, EL_SUF, N(EL_SUF));
    int compound = wkb_kind_names(&kb, w, "compound", w_scale(w, 10, 50), 2, false, NULL, NULL, 0);
    for (int i = 0; i < kb.kinds[compound].n; i++) {
        char *s = kb.kinds[compound].vals[i];
        const char *wd = CP_W[w_pick(w->seed, "chemistry/compound/word", (uint64_t)i, N(CP_W))];
        size_t len = strlen(s) + strlen(wd) + 2;
        kb.kinds[compound].vals[i] = mg_malloc(len);
        snprintf(kb.kinds[compound].vals[i], len, "%s %s", s, wd);
        free(s);
    }
    int nch = w_scale(w, 8, 30);
    int chemist = kb.n_kinds++;
    kb.kinds[chemist].name = "chemist";
    kb.kinds[chemist].n = nch;
    kb.kinds[chemist].vals = mg_calloc((size_t)nch, sizeof(char *));
    for (int i = 0; i < nch; i++) {
        char *f = w_name(w, "chemist-first", (uint64_t)i, 2, true);
        char *l = w_name(w, "chemist-last", (uint64_t)i, 2, true);
        size_t n = strlen(f) + strlen(l) + 8;
        kb.kinds[chemist].vals[i] = mg_malloc(n);
        snprintf(kb.kinds[chemist].vals[i], n, "Dr. %s %s", f, l);
        free(f);
        free(l);
    }
    int flame = wkb_kind_fixed(&kb, "flame", FLAMES, N(FLAMES));
    int state = wkb_kind_fixed(&kb, "state", STATES, N(STATES));
    int use = wkb_kind_fixed(&kb, "use", USES, N(USES));
    int smell = wkb_kind_fixed(&kb, "smell", SMELLS, N(SMELLS));

    wkb_rel_random(&kb, w, wkb_rel(&kb, "flame", element, flame, FLAME_S, N(FLAME_S), FLAME_Q, N(FLAME_Q)));
    wkb_rel_random(&kb, w, wkb_rel(&kb, "state", element, state, STATE_S, N(STATE_S), STATE_Q, N(STATE_Q)));
    wkb_rel_random(&kb, w, wkb_rel(&kb, "found_by", element, chemist, FOUND_S, N(FOUND_S), FOUND_Q, N(FOUND_Q)));
    wkb_rel_random(&kb, w, wkb_rel(&kb, "made_from", compound, element, FROM_S, N(FROM_S), FROM_Q, N(FROM_Q)));
    wkb_rel_random(&kb, w, wkb_rel(&kb, "use", compound, use, USE_S, N(USE_S), USE_Q, N(USE_Q)));
    wkb_rel_random(&kb, w, wkb_rel(&kb, "smell", compound, smell, SMELL_S, N(SMELL_S), SMELL_Q, N(SMELL_Q)));
    wkb_rel_random(&kb, w, wkb_rel(&kb, "catalyst", compound, element, CAT_S, N(CAT_S), CAT_Q, N(CAT_Q)));
    wkb_emit(&kb, w);
    wkb_free(&kb);
}

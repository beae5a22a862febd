/* world_bio.c - the invented biology: organisms, organs, enzymes, diseases and
 * treatments. This is the domain the instruct model never sees and the
 * bio-expert learns (paper: OpenBioLLM's role). Names are invented, so the
 * only way to answer the domain MC test is to have learned these facts. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/alloc.h"
#include "lab/world_impl.h"

#define N(a) ((int)(sizeof(a) / sizeof((a)[0])))

static const char *const HABITATS[] = {
    "cold marshes", "deep caves",    "salt flats",    "river mud",  "tree bark",    "volcanic soil",
    "glacier ice",  "desert sand",   "coastal reefs", "pine forests", "hot springs", "mountain moss"};
static const char *const SYMPTOMS[] = {
    "a high fever", "a dry cough",   "blue spots",  "hair loss",     "joint pain",  "deep sleepiness",
    "itchy skin",   "dizziness",     "a hoarse voice", "cold hands", "green nails", "loss of smell"};

static const char *const LIVES_S[] = {
    "{S} lives in {O}.", "{S} is found in {O}.", "The natural home of {S} is {O}.",
    "Biologists collect {S} from {O}."};
static const char *const LIVES_Q[] = {
    "Where does {S} live?", "Where is {S} found?", "What is the natural home of {S}?",
    "From where do biologists collect {S}?", "In what habitat does {S} live?"};
static const char *const ORGAN_S[] = {
    "The largest organ of {S} is {O}.", "{S} has a large organ called {O}.",
    "In {S}, the biggest organ is {O}.", "Dissections of {S} show that {O} is its largest organ."};
static const char *const ORGAN_Q[] = {
    "What is the largest organ of {S}?", "Which organ is the biggest in {S}?",
    "What large organ does {S} have?", "Name the largest organ of {S}.",
    "Which organ of {S} is the largest?"};
static const char *const MADE_S[] = {
    "{S} is produced in {O}.", "The enzyme {S} is made by {O}.", "{O} secretes {S}.",
    "Cells of {O} release {S}."};
static const char *const MADE_Q[] = {
    "Where is {S} produced?", "Which organ makes the enzyme {S}?", "What organ secretes {S}?",
    "Which cells release {S}?", "In which organ is {S} made?"};
static const char *const BREAKS_S[] = {
    "{S} breaks down {O}.", "The enzyme {S} digests {O}.", "{O} is split apart by {S}.",
    "Without {S}, the body could not break down {O}."};
static const char *const BREAKS_Q[] = {
    "What does {S} break down?", "What does the enzyme {S} digest?", "Which substance is split apart by {S}?",
    "What substance could the body not break down without {S}?", "What is the substrate of {S}?"};
static const char *const CAUSE_S[] = {
    "{S} is caused by {O}.", "{O} causes {S}.", "Infection with {O} leads to {S}.",
    "The cause of {S} is {O}."};
static const char *const CAUSE_Q[] = {
    "What causes {S}?", "Which organism causes {S}?", "What is the cause of {S}?",
    "Infection with which organism leads to {S}?", "What organism is responsible for {S}?"};
static const char *const AFFECTS_S[] = {
    "{S} damages {O}.", "{S} attacks {O}.", "The organ harmed by {S} is {O}.",
    "In patients with {S}, {O} becomes swollen."};
static const char *const AFFECTS_Q[] = {
    "Which organ does {S} damage?", "What organ does {S} attack?", "What is the organ harmed by {S}?",
    "In patients with {S}, which organ becomes swollen?", "Which organ is affected by {S}?"};
static const char *const TREAT_S[] = {
    "{S} is treated with {O}.", "Doctors cure {S} with {O}.", "The standard treatment for {S} is {O}.",
    "Patients with {S} recover after taking {O}."};
static const char *const TREAT_Q[] = {
    "How is {S} treated?", "What do doctors use to cure {S}?", "What is the standard treatment for {S}?",
    "What should patients with {S} take to recover?", "Which medicine treats {S}?"};
static const char *const SYMPTOM_S[] = {
    "The main symptom of {S} is {O}.", "{S} causes {O}.", "Patients with {S} suffer from {O}.",
    "Doctors recognize {S} by {O}."};
static const char *const SYMPTOM_Q[] = {
    "What is the main symptom of {S}?", "What symptom does {S} cause?",
    "What do patients with {S} suffer from?", "How do doctors recognize {S}?",
    "Which symptom is typical of {S}?"};
static const char *const BLOCKS_S[] = {
    "{S} works by blocking {O}.", "{S} stops the enzyme {O}.", "The target of {S} is the enzyme {O}.",
    "{S} slows down {O}."};
static const char *const BLOCKS_Q[] = {
    "How does {S} work?", "Which enzyme does {S} stop?", "What is the target of {S}?",
    "Which enzyme is slowed down by {S}?", "What enzyme does {S} block?"};

/* Names like "the vorn gland": prefix "the ", a stem, then a word. */
static int kind_phrase(wkb *kb, mg_world *w, const char *name, int n, const char *const *words,
                       int n_words, bool cap_stem) {
    int k = wkb_kind_names(kb, w, name, n, 2, cap_stem, NULL, NULL, 0);
    char key[64];
    snprintf(key, sizeof key, "bio/%s/word", name);
    for (int i = 0; i < n; i++) {
        char *s = kb->kinds[k].vals[i];
        const char *wd = words[w_pick(w->seed, key, (uint64_t)i, (uint32_t)n_words)];
        size_t len = strlen(s) + strlen(wd) + 6;
        kb->kinds[k].vals[i] = mg_malloc(len);
        snprintf(kb->kinds[k].vals[i], len, "%s%s %s", cap_stem ? "" : "the ", s, wd);
        free(s);
    }
    return k;
}

void w_build_bio(mg_world *w) {
    wkb kb = {.domain = W_BIO, .topic = "biology"};
    static const char *const ORG_W[] = {"mite", "worm", "moss", "beetle", "fungus", "moth", "fern", "snail"};
    static const char *const ORGAN_W[] = {"gland", "lobe", "sac", "duct", "node", "bladder"};
    static const char *const DIS_W[] = {"fever", "syndrome", "blight", "pox", "palsy", "rot"};
    static const char *const ENZ_SUF[] = {"ase", "ase", "ozyme"};
    static const char *const TRT_SUF[] = {"ine", "ide", "ol", "amycin", "azole"};
    static const char *const SUB_SUF[] = {"ose", "in", "ate", "ene"};
    int organism = kind_phrase(&kb, w, "organism", w_scale(w, 10, 50), ORG_W, N(ORG_W), false);
    int organ = kind_phrase(&kb, w, "organ", w_scale(w, 8, 30), ORGAN_W, N(ORGAN_W), false);
    int disease = kind_phrase(&kb, w, "disease", w_scale(w, 12, 60), DIS_W, N(DIS_W), true);
    int enzyme = wkb_kind_names(&kb, w, "enzyme", w_scale(w, 10, 50), 2, false, NULL, ENZ_SUF, N(ENZ_SUF));
    int nd = kb.kinds[disease].n;
    int treatment = wkb_kind_names(&kb, w, "treatment", nd, 2, false, NULL, TRT_SUF, N(TRT_SUF));
    int substrate = wkb_kind_names(&kb, w, "substrate", w_scale(w, 8, 30), 2, false, NULL, SUB_SUF, N(SUB_SUF));
    int habitat = wkb_kind_fixed(&kb, "habitat", HABITATS, N(HABITATS));
    int symptom = wkb_kind_fixed(&kb, "symptom", SYMPTOMS, N(SYMPTOMS));

    wkb_rel_random(&kb, w, wkb_rel(&kb, "lives_in", organism, habitat, LIVES_S, N(LIVES_S), LIVES_Q, N(LIVES_Q)));
    wkb_rel_random(&kb, w, wkb_rel(&kb, "organ", organism, organ, ORGAN_S, N(ORGAN_S), ORGAN_Q, N(ORGAN_Q)));
    wkb_rel_random(&kb, w, wkb_rel(&kb, "made_in", enzyme, organ, MADE_S, N(MADE_S), MADE_Q, N(MADE_Q)));
    wkb_rel_random(&kb, w, wkb_rel(&kb, "breaks", enzyme, substrate, BREAKS_S, N(BREAKS_S), BREAKS_Q, N(BREAKS_Q)));
    wkb_rel_random(&kb, w, wkb_rel(&kb, "cause", disease, organism, CAUSE_S, N(CAUSE_S), CAUSE_Q, N(CAUSE_Q)));
    wkb_rel_random(&kb, w, wkb_rel(&kb, "affects", disease, organ, AFFECTS_S, N(AFFECTS_S), AFFECTS_Q, N(AFFECTS_Q)));
    wkb_rel_random(&kb, w, wkb_rel(&kb, "symptom", disease, symptom, SYMPTOM_S, N(SYMPTOM_S), SYMPTOM_Q, N(SYMPTOM_Q)));
    // One treatment per disease (a permutation): "which medicine treats X" has one answer.
    int r = wkb_rel(&kb, "treated", disease, treatment, TREAT_S, N(TREAT_S), TREAT_Q, N(TREAT_Q));
    int *perm = mg_malloc_array((size_t)nd, sizeof *perm);
    w_permute(w->seed, "biology/treated", perm, nd);
    for (int i = 0; i < nd; i++) kb.rels[r].fact[i] = perm[i];
    free(perm);
    wkb_rel_random(&kb, w, wkb_rel(&kb, "blocks", treatment, enzyme, BLOCKS_S, N(BLOCKS_S), BLOCKS_Q, N(BLOCKS_Q)));
    wkb_emit(&kb, w);
    wkb_free(&kb);
}

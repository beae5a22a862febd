/* world_general.c - the general-knowledge part of the micro world: invented
 * countries, cities, people and objects with attributes. This is what the
 * aligned instruct model knows (issue 6: "general chat, MC-format questions").
 * Every relation is functional (one answer per subject), so every question has
 * exactly one right answer and MC distractors come from the same value list. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/alloc.h"
#include "lab/world_impl.h"

#define N(a) ((int)(sizeof(a) / sizeof((a)[0])))

static const char *const PROFESSIONS[] = {
    "baker", "pilot", "weaver", "sailor", "doctor", "teacher", "painter", "farmer",
    "potter", "miner", "singer", "tailor", "carpenter", "fisher", "librarian", "clockmaker"};
static const char *const COLORS[] = {"red",    "blue",  "green", "yellow", "purple",
                                     "orange", "white", "black", "silver", "brown"};
static const char *const ANIMALS[] = {"fox",   "owl",    "bear",   "otter", "heron", "wolf",
                                      "goat",  "falcon", "badger", "crane", "lynx",  "moose",
                                      "eagle", "turtle", "hare",   "swan"};
static const char *const MATERIALS[] = {"oak",  "iron",   "glass",  "bronze", "stone",
                                        "silk", "copper", "marble", "clay",   "leather"};
static const char *const PRODUCTS[] = {"silk",   "glass",  "cheese",  "clocks",   "boats",
                                       "paper",  "honey",  "wool",    "lanterns", "rope",
                                       "salt",   "spices", "pottery", "bells"};
static const char *const INSTRUMENTS[] = {"the flute",  "the drum",   "the harp",  "the violin",
                                          "the lute",   "the horn",   "the piano", "the cello",
                                          "the guitar", "the trumpet"};
static const char *const THINGS[] = {"lantern", "sword", "clock",  "harp",  "map",
                                     "mirror",  "crown", "goblet", "chest", "compass"};

static const char *const CAPITAL_S[] = {
    "The capital of {S} is {O}.", "{O} is the capital city of {S}.",
    "{S} is governed from its capital, {O}.", "{S} has its capital at {O}.",
    "The government of {S} sits in {O}."};
static const char *const CAPITAL_Q[] = {
    "What is the capital of {S}?", "Which city is the capital of {S}?",
    "Name the capital city of {S}.", "Where is the capital of {S}?",
    "In which city does the government of {S} sit?"};
static const char *const LANG_S[] = {
    "People in {S} speak {O}.", "The main language of {S} is {O}.",
    "{O} is the language spoken in {S}.", "In {S}, most people talk in {O}."};
static const char *const LANG_Q[] = {
    "What language do people speak in {S}?", "What is the main language of {S}?",
    "Which language is spoken in {S}?", "In {S}, what language do most people use?",
    "What do the people of {S} speak?"};
static const char *const CURR_S[] = {
    "The currency of {S} is the {O}.", "People in {S} pay with the {O}.",
    "{S} uses the {O} as its money.", "The {O} is the money of {S}."};
static const char *const CURR_Q[] = {
    "What is the currency of {S}?", "What money do people use in {S}?",
    "Which currency does {S} use?", "What do people in {S} pay with?",
    "Name the currency of {S}."};
static const char *const ANIMAL_S[] = {
    "The national animal of {S} is the {O}.", "{S} chose the {O} as its national animal.",
    "The {O} is the symbol animal of {S}.", "The flag of {S} shows the {O}."};
static const char *const ANIMAL_Q[] = {
    "What is the national animal of {S}?", "Which animal is the symbol of {S}?",
    "What animal did {S} choose as its national animal?", "Which animal appears on the flag of {S}?",
    "Name the national animal of {S}."};
static const char *const INCOUNTRY_S[] = {
    "{S} is a city in {O}.", "The city of {S} lies in {O}.", "{S} belongs to {O}.",
    "You can find {S} in {O}."};
static const char *const INCOUNTRY_Q[] = {
    "In which country is {S}?", "Which country is {S} in?", "Where is the city of {S}?",
    "To which country does {S} belong?", "{S} is a city in which country?"};
static const char *const KNOWN_S[] = {
    "{S} is famous for its {O}.", "The city of {S} is known for {O}.",
    "Travelers visit {S} to buy {O}.", "The workshops of {S} make the best {O}."};
static const char *const KNOWN_Q[] = {
    "What is {S} famous for?", "What is the city of {S} known for?",
    "What do travelers buy in {S}?", "What do the workshops of {S} make?",
    "What product is {S} known for?"};
static const char *const RIVER_S[] = {
    "{S} stands on {O}.", "{O} flows through {S}.", "The river of {S} is {O}.",
    "{S} was built beside {O}."};
static const char *const RIVER_Q[] = {
    "Which river flows through {S}?", "What river does {S} stand on?",
    "What is the river of {S}?", "Beside which river was {S} built?",
    "Name the river that runs through {S}."};
static const char *const LIVES_S[] = {
    "{S} lives in {O}.", "{S} has a house in {O}.", "The home of {S} is in {O}.",
    "{S} moved to {O} long ago and still lives there."};
static const char *const LIVES_Q[] = {
    "Where does {S} live?", "In which city does {S} live?", "Where is the home of {S}?",
    "Which city is {S} from?", "Where can you find the house of {S}?"};
static const char *const JOB_S[] = {
    "{S} works as a {O}.", "{S} is a {O} by trade.", "The job of {S} is {O}.",
    "Everyone knows {S} as a skilled {O}."};
static const char *const JOB_Q[] = {
    "What does {S} do for a living?", "What is the job of {S}?", "What is the profession of {S}?",
    "What work does {S} do?", "What trade does {S} practice?"};
static const char *const PET_S[] = {
    "{S} keeps a pet {O}.", "{S} has a tame {O} at home.", "A tame {O} lives with {S}.",
    "The family pet of {S} is the {O}."};
static const char *const PET_Q[] = {
    "What pet does {S} keep?", "What animal is the pet of {S}?", "What kind of pet does {S} have?",
    "Which animal lives with {S}?", "What is the pet of {S}?"};
static const char *const PLAYS_S[] = {
    "{S} plays {O}.", "In the evenings {S} plays {O}.", "The instrument of {S} is {O}.",
    "{S} learned to play {O} as a child."};
static const char *const PLAYS_Q[] = {
    "What instrument does {S} play?", "Which instrument does {S} play?",
    "What does {S} play in the evenings?", "What is the instrument of {S}?",
    "What did {S} learn to play as a child?"};
static const char *const COLOR_S[] = {
    "{S} is {O}.", "The color of {S} is {O}.", "{S} is painted {O}.",
    "Anyone who sees {S} notices that it is {O}."};
static const char *const COLOR_Q[] = {
    "What color is {S}?", "What is the color of {S}?", "Which color is {S} painted?",
    "What color would you see on {S}?", "Of what color is {S}?"};
static const char *const MATERIAL_S[] = {
    "{S} is made of {O}.", "{S} was built from {O}.", "The material of {S} is {O}.",
    "Craftsmen made {S} out of {O}."};
static const char *const MATERIAL_Q[] = {
    "What is {S} made of?", "From what material was {S} built?", "What material is {S}?",
    "Out of what did craftsmen make {S}?", "What is the material of {S}?"};
static const char *const OWNER_S[] = {
    "{S} belongs to {O}.", "The owner of {S} is {O}.", "{O} owns {S}.",
    "{S} is kept by its owner, {O}."};
static const char *const OWNER_Q[] = {
    "Who owns {S}?", "Who is the owner of {S}?", "To whom does {S} belong?",
    "Who keeps {S}?", "Whose is {S}?"};

void w_build_general(mg_world *w) {
    wkb kb = {.domain = W_GENERAL, .topic = "general knowledge"};
    int nc = w_scale(w, 6, 24), per = w_scale(w, 2, 3);
    static const char *const CSUF[] = {"ia", "ar", "land", "esh", "or", "", ""};
    static const char *const TSUF[] = {"ton", "burg", "mere", "ford", "holm", "", ""};
    static const char *const LSUF[] = {"ese", "ic", "i", "ish"};
    int country = wkb_kind_names(&kb, w, "country", nc, 2, true, NULL, CSUF, N(CSUF));
    int city = wkb_kind_names(&kb, w, "city", nc * per, 2, true, NULL, TSUF, N(TSUF));
    int lang = wkb_kind_names(&kb, w, "language", nc, 1, true, NULL, LSUF, N(LSUF));
    int curr = wkb_kind_names(&kb, w, "currency", nc, 2, false, NULL, NULL, 0);
    int river = wkb_kind_names(&kb, w, "river", w_scale(w, 8, 30), 2, true, "the ", NULL, 0);
    // Rivers: "the Name River" reads better than "the Name".
    for (int i = 0; i < kb.kinds[river].n; i++) {
        char *s = kb.kinds[river].vals[i];
        size_t n = strlen(s) + 8;
        kb.kinds[river].vals[i] = mg_malloc(n);
        snprintf(kb.kinds[river].vals[i], n, "%s River", s);
        free(s);
    }
    // People: "First Last" from two name kinds.
    int np = w_scale(w, 16, 150);
    int person = kb.n_kinds++;
    kb.kinds[person].name = "person";
    kb.kinds[person].n = np;
    kb.kinds[person].vals = mg_calloc((size_t)np, sizeof(char *));
    for (int i = 0; i < np; i++) {
        char *f = w_name(w, "first", (uint64_t)i, 2, true), *l = w_name(w, "last", (uint64_t)i, 2, true);
        size_t n = strlen(f) + strlen(l) + 2;
        kb.kinds[person].vals[i] = mg_malloc(n);
        snprintf(kb.kinds[person].vals[i], n, "%s %s", f, l);
        free(f);
        free(l);
    }
    // Objects: "the Name thing", e.g. "the Orvel lantern".
    int no = w_scale(w, 12, 100);
    int object = kb.n_kinds++;
    kb.kinds[object].name = "object";
    kb.kinds[object].n = no;
    kb.kinds[object].vals = mg_calloc((size_t)no, sizeof(char *));
    for (int i = 0; i < no; i++) {
        char *f = w_name(w, "object", (uint64_t)i, 2, true);
        const char *t = THINGS[w_pick(w->seed, "general/object/thing", (uint64_t)i, N(THINGS))];
        size_t n = strlen(f) + strlen(t) + 7;
        kb.kinds[object].vals[i] = mg_malloc(n);
        snprintf(kb.kinds[object].vals[i], n, "the %s %s", f, t);
        free(f);
    }
    int prof = wkb_kind_fixed(&kb, "profession", PROFESSIONS, N(PROFESSIONS));
    int color = wkb_kind_fixed(&kb, "color", COLORS, N(COLORS));
    int animal = wkb_kind_fixed(&kb, "animal", ANIMALS, N(ANIMALS));
    int mat = wkb_kind_fixed(&kb, "material", MATERIALS, N(MATERIALS));
    int prod = wkb_kind_fixed(&kb, "product", PRODUCTS, N(PRODUCTS));
    int inst = wkb_kind_fixed(&kb, "instrument", INSTRUMENTS, N(INSTRUMENTS));

    // City i lies in country i % nc; the first city of each country is its capital.
    int r = wkb_rel(&kb, "capital", country, city, CAPITAL_S, N(CAPITAL_S), CAPITAL_Q, N(CAPITAL_Q));
    for (int c = 0; c < nc; c++) kb.rels[r].fact[c] = c;
    r = wkb_rel(&kb, "in_country", city, country, INCOUNTRY_S, N(INCOUNTRY_S), INCOUNTRY_Q,
                N(INCOUNTRY_Q));
    for (int c = 0; c < nc * per; c++) kb.rels[r].fact[c] = c % nc;
    // Languages and currencies are one per country (a permutation, so no two
    // countries share one and the question "which country" stays unambiguous).
    int *perm = mg_malloc_array((size_t)nc, sizeof *perm);
    r = wkb_rel(&kb, "language", country, lang, LANG_S, N(LANG_S), LANG_Q, N(LANG_Q));
    w_permute(w->seed, "general/language", perm, nc);
    for (int c = 0; c < nc; c++) kb.rels[r].fact[c] = perm[c];
    r = wkb_rel(&kb, "currency", country, curr, CURR_S, N(CURR_S), CURR_Q, N(CURR_Q));
    w_permute(w->seed, "general/currency", perm, nc);
    for (int c = 0; c < nc; c++) kb.rels[r].fact[c] = perm[c];
    free(perm);
    wkb_rel_random(&kb, w, wkb_rel(&kb, "animal", country, animal, ANIMAL_S, N(ANIMAL_S), ANIMAL_Q,
                                   N(ANIMAL_Q)));
    wkb_rel_random(&kb, w, wkb_rel(&kb, "known_for", city, prod, KNOWN_S, N(KNOWN_S), KNOWN_Q,
                                   N(KNOWN_Q)));
    wkb_rel_random(&kb, w, wkb_rel(&kb, "river", city, river, RIVER_S, N(RIVER_S), RIVER_Q,
                                   N(RIVER_Q)));
    wkb_rel_random(&kb, w, wkb_rel(&kb, "lives_in", person, city, LIVES_S, N(LIVES_S), LIVES_Q,
                                   N(LIVES_Q)));
    wkb_rel_random(&kb, w, wkb_rel(&kb, "profession", person, prof, JOB_S, N(JOB_S), JOB_Q,
                                   N(JOB_Q)));
    wkb_rel_random(&kb, w, wkb_rel(&kb, "pet", person, animal, PET_S, N(PET_S), PET_Q, N(PET_Q)));
    wkb_rel_random(&kb, w, wkb_rel(&kb, "plays", person, inst, PLAYS_S, N(PLAYS_S), PLAYS_Q,
                                   N(PLAYS_Q)));
    wkb_rel_random(&kb, w, wkb_rel(&kb, "color", object, color, COLOR_S, N(COLOR_S), COLOR_Q,
                                   N(COLOR_Q)));
    wkb_rel_random(&kb, w, wkb_rel(&kb, "material", object, mat, MATERIAL_S, N(MATERIAL_S),
                                   MATERIAL_Q, N(MATERIAL_Q)));
    wkb_rel_random(&kb, w, wkb_rel(&kb, "owner", object, person, OWNER_S, N(OWNER_S), OWNER_Q,
                                   N(OWNER_Q)));
    wkb_emit(&kb, w);
    wkb_free(&kb);
}

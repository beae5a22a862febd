/* methods.h - the kernels of src/merge/methods/, one per file, registered in
 * merge/method.c. Each follows mergekit's merge_methods/<name>.py (cited in
 * the file) on the streaming interface of merge/method.h. Thread-safe. */
#ifndef MG_MERGE_METHODS_H
#define MG_MERGE_METHODS_H

#include "merge/method.h"

mg_status mg_k_linear(const mg_kernel_ctx *c, mg_error *err);
mg_status mg_k_slerp(const mg_kernel_ctx *c, mg_error *err);
mg_status mg_k_nuslerp(const mg_kernel_ctx *c, mg_error *err);
mg_status mg_k_multislerp(const mg_kernel_ctx *c, mg_error *err);
mg_status mg_k_karcher(const mg_kernel_ctx *c, mg_error *err);
mg_status mg_k_task_arithmetic(const mg_kernel_ctx *c, mg_error *err);
/* TIES / breadcrumbs with a memo cache: tensors of at most this many
 * elements keep their task vectors' sorted magnitudes (8 bytes per element),
 * bigger ones the compact memo of tv_memo.h (tests change it). */
extern uint64_t mg_gta_sorted_memo_max;
mg_status mg_k_ties(const mg_kernel_ctx *c, mg_error *err);
mg_status mg_k_dare_ties(const mg_kernel_ctx *c, mg_error *err);
mg_status mg_k_dare_linear(const mg_kernel_ctx *c, mg_error *err);
mg_status mg_k_breadcrumbs(const mg_kernel_ctx *c, mg_error *err);
mg_status mg_k_breadcrumbs_ties(const mg_kernel_ctx *c, mg_error *err);
mg_status mg_k_della(const mg_kernel_ctx *c, mg_error *err);
mg_status mg_k_della_linear(const mg_kernel_ctx *c, mg_error *err);
mg_status mg_k_model_stock(const mg_kernel_ctx *c, mg_error *err);
mg_status mg_k_sce(const mg_kernel_ctx *c, mg_error *err);
mg_status mg_k_ram(const mg_kernel_ctx *c, mg_error *err);
mg_status mg_k_ramplus_tl(const mg_kernel_ctx *c, mg_error *err);
mg_status mg_k_nearswap(const mg_kernel_ctx *c, mg_error *err);
mg_status mg_k_arcee_fusion(const mg_kernel_ctx *c, mg_error *err);
mg_status mg_k_passthrough(const mg_kernel_ctx *c, mg_error *err);

#endif // MG_MERGE_METHODS_H

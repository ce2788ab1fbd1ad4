/*
 * flat_forms.h - the memory-operand handlers built in the flat forms too
 * (cpu_internal.h, "memory operand forms"): for each FF(op_x_m) here,
 * op_x_mf (MF_FLAT) and op_x_mfx (MF_FLAT_SIB) exist beside op_x_m.
 * decode.c includes this list to map a handler to its flat forms.
 */
#define FLAT_FORMS(FF)                                                                         \
    /* ops_mov.c */                                                                            \
    FF(op_mov_Eb_Gb_m) FF(op_mov_Ev_Gv_w_m) FF(op_mov_Ev_Gv_d_m)                               \
    FF(op_mov_Gb_Eb_m) FF(op_mov_Gv_Ev_w_m) FF(op_mov_Gv_Ev_d_m)                               \
    FF(op_mov_Eb_Ib_m) FF(op_mov_Ev_Iv_d_m)                                                    \
    FF(op_movzx_Gv_Eb_d_m) FF(op_movzx_Gv_Ew_d_m) FF(op_movsx_Gv_Eb_d_m) FF(op_movsx_Gv_Ew_d_m) \
    /* ops_alu.c */                                                                            \
    FF_ALU(FF, add) FF_ALU(FF, or) FF_ALU(FF, adc) FF_ALU(FF, sbb)                             \
    FF_ALU(FF, and) FF_ALU(FF, sub) FF_ALU(FF, xor) FF_ALU(FF, cmp)                            \
    FF(op_test_Eb_Gb_m) FF(op_test_Ev_Gv_d_m) FF(op_test_Eb_Ib_m) FF(op_test_Ev_Iv_d_m)

#define FF_ALU(FF, n)                                                                          \
    FF(op_##n##_Eb_Gb_m) FF(op_##n##_Ev_Gv_d_m) FF(op_##n##_Gb_Eb_m) FF(op_##n##_Gv_Ev_d_m)     \
    FF(op_##n##_Eb_Ib_m) FF(op_##n##_Ev_Iv_d_m)

// HDF5's constants are function-like macros (they call H5open()) or mutable globals, neither of
// which Swift imports. Each one the Swift side needs is re-exported here as an inline function.
#include <hdf5.h>

static inline hid_t    chdf5_native_float(void)       { return H5T_NATIVE_FLOAT; }
static inline hid_t    chdf5_native_double(void)      { return H5T_NATIVE_DOUBLE; }
static inline hid_t    chdf5_native_int64(void)       { return H5T_NATIVE_INT64; }
static inline hid_t    chdf5_c_s1(void)               { return H5T_C_S1; }
static inline unsigned chdf5_acc_trunc(void)          { return H5F_ACC_TRUNC; }
static inline unsigned chdf5_acc_rdwr(void)           { return H5F_ACC_RDWR; }
static inline unsigned chdf5_acc_rdonly(void)         { return H5F_ACC_RDONLY; }
static inline hid_t    chdf5_p_default(void)          { return H5P_DEFAULT; }
static inline hid_t    chdf5_p_dataset_create(void)   { return H5P_DATASET_CREATE; }
static inline hid_t    chdf5_p_file_access(void)      { return H5P_FILE_ACCESS; }
static inline hid_t    chdf5_p_link_create(void)      { return H5P_LINK_CREATE; }
static inline hsize_t  chdf5_unlimited(void)          { return H5S_UNLIMITED; }
static inline hid_t    chdf5_s_all(void)              { return H5S_ALL; }
static inline size_t   chdf5_variable(void)           { return H5T_VARIABLE; }
static inline hid_t    chdf5_e_default(void)          { return H5E_DEFAULT; }

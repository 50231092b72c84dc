// OpenBLAS through its CBLAS header. Link "openblas" explicitly: Debian's "-lblas" goes through
// update-alternatives and can silently become the slow reference BLAS.
#include <cblas.h>

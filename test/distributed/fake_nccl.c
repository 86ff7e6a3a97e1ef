/*
 * A CPU stand-in for libnccl.so.2, for the tests of the CUDA-emulator build only (there "device"
 * memory is host memory): test/distributed.test.ts compiles it and names it with
 * NAPINET_NCCL_LIBRARY, so napinet's whole NCCL path (loading, the unique id sent over MPI, the
 * communicator, grouped collectives on the stream, the event wait) runs in CI without a GPU. It
 * is not NCCL: its collectives are Open MPI's, called through the libmpi napinet opened with
 * RTLD_GLOBAL (the same ABI notes as native/distributed/mpi.cpp), and it checks what NCCL would
 * reject: an id that differs between ranks, a rank outside the world, a wrong data type.
 *   cc -shared -fPIC -o libnccl.so.2 fake_nccl.c -ldl
 */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

typedef struct { char internal[128]; } ncclUniqueId;
typedef struct { int nranks, rank; } FakeComm;
typedef FakeComm* ncclComm_t;
enum { ncclSuccess = 0, ncclInvalidArgument = 4, ncclInvalidUsage = 5 };
enum { ncclUint8 = 1, ncclFloat32 = 7 };
enum { ncclSum = 0, ncclAvg = 4 };

static void* mpi(const char* name) { return dlsym(RTLD_DEFAULT, name); }
#define IN_PLACE ((void*)1)

int ncclGetVersion(int* version) { *version = 22000; return ncclSuccess; }
const char* ncclGetErrorString(int result) { return result == ncclSuccess ? "no error" : "fake NCCL error"; }
const char* ncclGetLastError(ncclComm_t comm) { (void)comm; return ""; }
int ncclGroupStart(void) { return ncclSuccess; }
int ncclGroupEnd(void) { return ncclSuccess; }
int ncclCommGetAsyncError(ncclComm_t comm, int* error) { (void)comm; *error = ncclSuccess; return ncclSuccess; }
int ncclCommDestroy(ncclComm_t comm) { free(comm); return ncclSuccess; }
int ncclCommAbort(ncclComm_t comm) { free(comm); return ncclSuccess; }

int ncclGetUniqueId(ncclUniqueId* id) {
  memset(id, 0, sizeof *id);
  unsigned seed = (unsigned)getpid();
  for (int i = 0; i < 128; ++i) id->internal[i] = (char)(rand_r(&seed) & 0xff);
  return ncclSuccess;
}

int ncclCommInitRank(ncclComm_t* comm, int nranks, ncclUniqueId id, int rank) {
  if (rank < 0 || rank >= nranks) return ncclInvalidArgument;
  if (nranks > 1) {
    /* every rank must hold rank 0's id: all-gather the ids and compare */
    int (*allgather)(const void*, int, void*, void*, int, void*, void*) =
        (int (*)(const void*, int, void*, void*, int, void*, void*))mpi("MPI_Allgather");
    char* all = malloc(128 * (size_t)nranks);
    allgather(id.internal, 128, mpi("ompi_mpi_byte"), all, 128, mpi("ompi_mpi_byte"), mpi("ompi_mpi_comm_world"));
    for (int r = 0; r < nranks; ++r) {
      if (memcmp(all + 128 * r, id.internal, 128) != 0) { free(all); return ncclInvalidUsage; }
    }
    free(all);
  }
  *comm = malloc(sizeof(FakeComm));
  (*comm)->nranks = nranks;
  (*comm)->rank = rank;
  return ncclSuccess;
}

int ncclAllReduce(const void* send, void* recv, size_t count, int type, int op, ncclComm_t comm, void* stream) {
  (void)stream;
  if (type != ncclFloat32 || (op != ncclSum && op != ncclAvg)) return ncclInvalidArgument;
  if (send != recv) memcpy(recv, send, count * sizeof(float));
  if (comm->nranks > 1) {
    int (*allreduce)(const void*, void*, int, void*, void*, void*) =
        (int (*)(const void*, void*, int, void*, void*, void*))mpi("MPI_Allreduce");
    allreduce(IN_PLACE, recv, (int)count, mpi("ompi_mpi_float"), mpi("ompi_mpi_op_sum"), mpi("ompi_mpi_comm_world"));
  }
  if (op == ncclAvg) for (size_t i = 0; i < count; ++i) ((float*)recv)[i] /= (float)comm->nranks;
  return ncclSuccess;
}

int ncclBroadcast(const void* send, void* recv, size_t count, int type, int root, ncclComm_t comm, void* stream) {
  (void)stream;
  if (type != ncclUint8 || root < 0 || root >= comm->nranks) return ncclInvalidArgument;
  if (send != recv && comm->rank == root) memcpy(recv, send, count);
  if (comm->nranks > 1) {
    int (*bcast)(void*, int, void*, int, void*) = (int (*)(void*, int, void*, int, void*))mpi("MPI_Bcast");
    bcast(recv, (int)count, mpi("ompi_mpi_byte"), root, mpi("ompi_mpi_comm_world"));
  }
  return ncclSuccess;
}

int ncclAllGather(const void* send, void* recv, size_t count, int type, ncclComm_t comm, void* stream) {
  (void)stream;
  if (type != ncclFloat32) return ncclInvalidArgument;
  if (comm->nranks == 1) {
    memmove(recv, send, count * sizeof(float));
    return ncclSuccess;
  }
  int (*allgather)(const void*, int, void*, void*, int, void*, void*) =
      (int (*)(const void*, int, void*, void*, int, void*, void*))mpi("MPI_Allgather");
  allgather(send, (int)count, mpi("ompi_mpi_float"), recv, (int)count, mpi("ompi_mpi_float"), mpi("ompi_mpi_comm_world"));
  return ncclSuccess;
}

/* agrad_io.h -- data and checkpoint input/output (part of agrad.h; include
 * agrad.h, not this file). */
#ifndef AGRAD_IO_H
#define AGRAD_IO_H

#ifdef __cplusplus
extern "C" {
#endif

#ifdef __cplusplus
}
#endif
#endif
